#!/usr/bin/env bash
# A one-node Ceph cluster for the tests: one mon, one mgr, one OSD (memstore, in RAM), radosgw on
# loopback. Everything lives in DIR; `stop` ends the daemons this script started, by their PIDs.
#   test/ceph/ceph.sh start DIR RGW_PORT [MOUNTPOINT]
#       prints the S3 endpoint when radosgw answers; with MOUNTPOINT, also starts an MDS and mounts
#       a CephFS there with ceph-fuse. The mon listens on MON_PORT (default RGW_PORT + 1); the
#       in-memory OSD holds CEPH_MEMSTORE_BYTES (default 4 GiB).
#   test/ceph/ceph.sh stop DIR      unmounts, then ends the daemons
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}

if [ "$cmd" = stop ]; then
  if [ -f "$dir/mountpoint" ]; then
    fusermount -u "$(cat "$dir/mountpoint")" 2>/dev/null || umount -l "$(cat "$dir/mountpoint")" 2>/dev/null || true
    rm -f "$dir/mountpoint"
  fi
  if [ -f "$dir/pids" ]; then
    pids=$(cat "$dir/pids")
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    # Give them 10 s to exit, then end them for good (an OSD can hang on shutdown).
    for _ in $(seq 1 100); do
      alive=""
      for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
      [ -z "$alive" ] && break
      sleep 0.1
    done
    for pid in $alive; do kill -9 "$pid" 2>/dev/null || true; done
    rm -f "$dir/pids"
  fi
  exit 0
fi

port=${3:?radosgw port}
mountpoint=${4:-}
monport=${MON_PORT:-$((port + 1))}
for tool in ceph-mon ceph-mgr ceph-osd radosgw ceph-authtool monmaptool; do
  command -v "$tool" >/dev/null || { echo "ceph.sh: $tool not found: apt-get install --no-install-recommends ceph-mon ceph-mgr ceph-osd radosgw ceph-common" >&2; exit 2; }
done
mkdir -p "$dir"/{mon,mgr,osd,mds,rgw,run,log}
fsid=$(cat /proc/sys/kernel/random/uuid)
conf="$dir/ceph.conf"
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$monport
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
[mon]
mon data = $dir/mon/\$id
[mgr]
mgr data = $dir/mgr/\$id
[osd]
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-4294967296}
[mds]
mds data = $dir/mds/\$id
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
CONF
ka="ceph-authtool $dir/keyring"
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
$ka --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
$ka --gen-key -n mgr.x --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
$ka --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
$ka --gen-key -n mds.a --cap mon 'allow profile mds' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow profile mds' >/dev/null
$ka --gen-key -n client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
monmaptool --create --addv a "[v1:127.0.0.1:$monport]" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
: > "$dir/pids"
ceph-mon -c "$conf" -i a -f > "$dir/log/mon.out" 2>&1 & echo $! >> "$dir/pids"
ceph-mgr -c "$conf" -i x -f > "$dir/log/mgr.out" 2>&1 & echo $! >> "$dir/pids"
# Fail at once when the mon cannot start (its port taken), rather than letting every command wait.
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$monport") 2>/dev/null && break
  kill -0 "$(head -1 "$dir/pids")" 2>/dev/null || { echo "ceph.sh: ceph-mon did not start on 127.0.0.1:$monport (logs in $dir/log)" >&2; exit 3; }
  sleep 0.1
done
uuid=$(cat /proc/sys/kernel/random/uuid)
id=$(ceph -c "$conf" osd new "$uuid" 2>/dev/null)
mkdir -p "$dir/osd/$id"
ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
ceph-osd -c "$conf" -i "$id" -f > "$dir/log/osd.out" 2>&1 & echo $! >> "$dir/pids"
# The user and the archive storage classes exist before radosgw starts, which reads its zone's
# placements once: GLACIER and DEEP_ARCHIVE objects are stored (as STANDARD ones are) and listed
# with their class, as a restore needs.
radosgw-admin -c "$conf" user create --uid ferry --display-name ferry --access-key ferry --secret ferrysecret >/dev/null
for class in GLACIER DEEP_ARCHIVE; do
  radosgw-admin -c "$conf" zonegroup placement add --rgw-zonegroup default --placement-id default-placement --storage-class "$class" >/dev/null
  radosgw-admin -c "$conf" zone placement add --rgw-zone default --placement-id default-placement --storage-class "$class" --data-pool default.rgw.buckets.data >/dev/null
done
radosgw -c "$conf" -n client.rgw.a -f > "$dir/log/rgw.out" 2>&1 & echo $! >> "$dir/pids"
if [ -n "$mountpoint" ]; then
  ceph -c "$conf" osd pool create cephfs_metadata 8 >/dev/null 2>&1
  ceph -c "$conf" osd pool create cephfs_data 8 >/dev/null 2>&1
  ceph -c "$conf" fs new cephfs cephfs_metadata cephfs_data >/dev/null 2>&1
  mkdir -p "$dir/mds/a"
  ceph-mds -c "$conf" -i a -f > "$dir/log/mds.out" 2>&1 & echo $! >> "$dir/pids"
fi
up=""
for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
[ -n "$up" ] || { echo "ceph.sh: radosgw did not answer on 127.0.0.1:$port (logs in $dir/log)" >&2; exit 3; }
if [ -n "$mountpoint" ]; then
  mkdir -p "$mountpoint"
  for _ in $(seq 1 300); do
    ceph -c "$conf" mds stat 2>/dev/null | grep -q "up:active" && break
    sleep 0.1
  done
  # In the foreground (-f), in the background here: its PID is ours to end.
  ceph-fuse -c "$conf" --id admin -f "$mountpoint" > "$dir/log/fuse.out" 2>&1 & echo $! >> "$dir/pids"
  echo "$mountpoint" > "$dir/mountpoint"
  mounted=""
  for _ in $(seq 1 300); do
    if grep -q " $mountpoint fuse" /proc/mounts; then mounted=1; break; fi
    sleep 0.1
  done
  [ -n "$mounted" ] || { echo "ceph.sh: ceph-fuse did not mount $mountpoint (logs in $dir/log)" >&2; exit 3; }
fi
echo "http://127.0.0.1:$port"
