"""The training-set pipeline: MIDI sources, rendering, clips, descriptors, captions, manifest."""
