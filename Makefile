# The two commands of the README, plus a release build and installation.
PREFIX ?= /usr/local
DESTDIR ?=
BUILD_DIR ?=

.PHONY: demo test release install uninstall deb check-unit clean

demo:          ## run opsd in the foreground on the demo configuration
	scripts/demo.sh

test:          ## install what the tests need, build, run every test (root: boots a systemd container)
	scripts/test.sh

release:       ## optimised binaries: Swift runtime linked in, hot functions together (scripts/release.sh)
	scripts/setup.sh build
	scripts/release.sh

install:       ## release build, then programs, units, cron file, ops user (PREFIX, DESTDIR, BUILD_DIR honoured)
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" BUILD_DIR="$(BUILD_DIR)" scripts/install.sh install

uninstall:     ## remove programs, units and cron file; keeps /etc/ops, /var/lib/ops and the ops user
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh uninstall

deb:           ## Debian package from the release build: .build/deb/opsd_VERSION_amd64.deb (scripts/deb.sh)
	scripts/setup.sh build
	scripts/deb.sh

check-unit:    ## systemd-analyze verify + security score of every unit in deploy/systemd
	for unit in deploy/systemd/*.service; do scripts/check-unit.sh $$unit 2.0 || exit 1; done
	for unit in deploy/systemd/*.timer; do scripts/check-unit.sh $$unit || exit 1; done

clean:
	rm -rf .build examples/demo/run
