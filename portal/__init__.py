"""The portal: the internet-side process for parties and grid workers (holds no evidence)."""
