"""Stage 1: the magnitude autoencoder (STFT magnitude in, ~64x latent at hop 1024, stereo waveform out)."""
