#!/bin/sh
# A misbehaving plugin: binary noise, broken performance data, and an exit code outside 0-3.
printf 'garbage \001\002\377 here | =5;;; broken=abc ok=3s;1;2\nmore lines\n'
exit 7
