print("opsctl")
