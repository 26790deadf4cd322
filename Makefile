# The two commands of the README, plus a release build.
.PHONY: demo test release check-unit clean

demo:          ## run opsd in the foreground on the demo configuration
	scripts/demo.sh

test:          ## install what the tests need, build, run every test (root: boots a systemd container)
	scripts/test.sh

release:       ## optimised binaries with the Swift runtime linked in (lower memory, no /opt/swift needed)
	scripts/setup.sh
	swift build -c release --static-swift-stdlib

check-unit:    ## systemd-analyze verify + security score of deploy/systemd/opsd.service
	scripts/check-unit.sh deploy/systemd/opsd.service 3.0

clean:
	rm -rf .build examples/demo/run
