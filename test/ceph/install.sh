#!/usr/bin/env bash
# Installs what the Ceph-backed tests need (a one-node cluster's daemons, radosgw, ceph-fuse) from
# Debian's packages, once; does nothing when they are there.
set -euo pipefail
if command -v radosgw >/dev/null && command -v ceph-osd >/dev/null && command -v ceph-mgr >/dev/null && command -v ceph-mds >/dev/null && command -v ceph-fuse >/dev/null; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install.sh: the tests need Ceph: apt-get install --no-install-recommends ceph-mon ceph-mgr ceph-osd ceph-mds radosgw ceph-fuse ceph-common" >&2
  exit 1
fi
echo "install.sh: installing Ceph from Debian's packages for the radosgw tests" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ceph-mon ceph-mgr ceph-osd ceph-mds radosgw ceph-fuse ceph-common >/dev/null
