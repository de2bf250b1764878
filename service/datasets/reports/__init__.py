"""The dataset report: a training file tokenized for one base model and counted, and its store."""
