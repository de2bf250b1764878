"""The Uploads API: large files sent in parts, assembled into a File on completion."""
