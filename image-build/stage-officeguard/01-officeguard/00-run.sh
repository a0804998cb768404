#!/bin/bash -e
# Copy the wheel, units and installer into the image and run the installer in its chroot.
install -d "${ROOTFS_DIR}/opt/officeguard/install"
cp -r files/. "${ROOTFS_DIR}/opt/officeguard/install/"
cp -r files/docs "${ROOTFS_DIR}/opt/officeguard/docs"
on_chroot << CHROOT
bash /opt/officeguard/install/install.sh /opt/officeguard/install/wheels /opt/officeguard/install/systemd
rm -rf /opt/officeguard/install
CHROOT
