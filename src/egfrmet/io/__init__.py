"""Reading and writing: images of any format, atomic outputs, figures."""
