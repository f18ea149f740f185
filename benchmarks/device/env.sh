export PYTHONPATH=/tmp/site PATH=/tmp/debroot/usr/bin:$PATH JACK_DRIVER_DIR=/tmp/debroot/usr/lib/x86_64-linux-gnu/jack PYTHONUNBUFFERED=1
export ALSA_CONFIG_PATH=/tmp/debroot/usr/share/alsa/alsa.conf CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-}
