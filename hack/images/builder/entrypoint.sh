#!/usr/bin/sh
# The build pod's containers run this with the builder command as arguments
# (openshift-controller-manager sets only args). This image has no runc, so the
# build steps that run RUN instructions use chroot isolation, which the builder
# takes only as a flag (BUILD_ISOLATION is not read).
case "$1" in
  openshift-docker-build | openshift-sti-build)
    cmd="$1"
    shift
    exec "$cmd" --isolation=chroot "$@"
    ;;
esac
exec "$@"
