print("opsd")
