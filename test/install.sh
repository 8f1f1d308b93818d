#!/usr/bin/env bash
# Installs what the tests need beyond npm, from Debian's packages, once; does nothing when it is
# there: a one-node Ceph cluster's daemons, radosgw and ceph-fuse (the radosgw and CephFS tests),
# and Chromium (report.html opened headless).
set -euo pipefail
packages=()
if ! { command -v radosgw && command -v ceph-osd && command -v ceph-mgr && command -v ceph-mds && command -v ceph-fuse; } >/dev/null; then
  packages+=(ceph-mon ceph-mgr ceph-osd ceph-mds radosgw ceph-fuse ceph-common)
fi
command -v chromium >/dev/null || packages+=(chromium)
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install.sh: the tests need: apt-get install --no-install-recommends ${packages[*]}" >&2
  exit 1
fi
echo "install.sh: installing ${packages[*]} from Debian's packages" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
