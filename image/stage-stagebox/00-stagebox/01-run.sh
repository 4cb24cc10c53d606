#!/bin/bash -e
# pi-gen: install stagebox into the image with image/install.sh, run in the image's chroot,
# with the read-only root; image/build.sh adds the state partition to the exported image
# (--image: so it is not looked for here, where the disks are the build machine's).
# pi-gen installed 00-packages just before; image/build.sh put the source in files/stagebox.
src="${ROOTFS_DIR}/var/tmp/stagebox-src"
rm -rf "${src}"
cp -r files/stagebox "${src}"
on_chroot <<'CHROOT'
/var/tmp/stagebox-src/image/install.sh --no-apt --read-only-root --image --src /var/tmp/stagebox-src
CHROOT
rm -rf "${src}"
