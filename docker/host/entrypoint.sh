#!/bin/sh
# PID 1 of a faultline host: authorises $FAULTLINE_AUTHORIZED_KEY for `faultline` and
# `nosudo`, makes the host keys on first start (a restart keeps them), and runs sshd.
set -eu
key=${FAULTLINE_AUTHORIZED_KEY:?the harness sets it: the public key faultline logs in with}
for user in faultline nosudo; do
  install -d -m 700 -o "$user" -g "$user" "/home/$user/.ssh"
  printf '%s\n' "$key" >"/home/$user/.ssh/authorized_keys"
  chown "$user:$user" "/home/$user/.ssh/authorized_keys"
  chmod 600 "/home/$user/.ssh/authorized_keys"
done
ssh-keygen -A >/dev/null
exec /usr/sbin/sshd -D -e
