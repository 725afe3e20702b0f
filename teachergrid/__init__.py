"""teachergrid: choose the teacher that suits your base model, before you fine-tune."""

__version__ = "0.1.0"
