"""Stage 2: text-conditioned latent diffusion (samplers first; the U-Net lands with issue 4)."""
