"""The servers d2l-serve is measured against, serving the same checkpoint the same way a user
would write them: torchvision's transforms, float32, the model as it is."""
