"""Training on the user's own data: uploaded sets, jobs run by a trainer process, and the model
versions they register, served as soon as they are written."""
