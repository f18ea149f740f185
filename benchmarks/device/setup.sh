# Device: stash the bundle in /tmp (kept while the machine is warm), unpack JACK/PortAudio, install wheels.
set -e
B=/tmp/bundle; rm -rf $B; cp -r .devbench $B
mkdir -p /tmp/debroot; for f in $B/debs/*.deb; do dpkg -x $f /tmp/debroot; done
printf "%s\n" /tmp/debroot/usr/lib/x86_64-linux-gnu /tmp/debroot/lib/x86_64-linux-gnu > /etc/ld.so.conf.d/zz-debroot.conf; ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $B/whl/*.whl
