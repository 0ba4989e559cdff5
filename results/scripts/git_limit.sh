# Sourced by collect.sh and park.sh: the largest file (bytes) they put in results/ for git. Weights and
# checkpoints above it (the UNet and SANet baselines) are named there, not kept.
GIT_FILE_LIMIT=10000000
