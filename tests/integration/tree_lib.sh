# SPDX-License-Identifier: ISC
# tree DIR: every file and directory below DIR, sorted, one a line: path,
# mode, and the SHA256 of a file (the install tests compare trees)
tree() {
	(cd "$1" && find . -mindepth 1 -printf '%p %m %y\n' | sort | while read -r p m y; do
		if [ "$y" = f ]; then echo "$p $m $(sha256sum "$p" | cut -d' ' -f1)"; else echo "$p $m $y"; fi
	done)
}
