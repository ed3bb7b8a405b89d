# outlookfs: make build | test | bench | demo | lint
GO       ?= go
BIN      := bin/outlookfs
DEMO_DIR ?= /tmp/outlookfs-demo
PKGS     := ./...

.PHONY: build test test-sdk race bench demo lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/outlookfs

# The whole suite: unit tests, emulator tests and real FUSE mounts driven by cp, rsync, gio, vim...
# -p 1 keeps the mount tests from fighting the package builds for the 2 CI cores.
test: build
	$(GO) test -count=1 -timeout 15m -p 1 $(PKGS)

# The suite under the race detector (slower; -short trims the longest spool cases).
race: build
	$(GO) test -race -short -count=1 -timeout 30m -p 1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Speed and memory goals, as tables (never as timed tests); also written to docs/benchmarks.md.
bench: build
	./scripts/bench.sh

# Microsoft's own uploader (msgraph-sdk-go-core) against the emulator. It is a benchmark-only
# module (cmd/outlookfs-bench-sdk) so that the product's go.mod never lists the SDK; make bench runs it too.
test-sdk:
	cd cmd/outlookfs-bench-sdk && $(GO) vet ./... && $(GO) test -count=1 ./...

# Short fuzzing runs of every fuzz target.
fuzz:
	./scripts/fuzz.sh

# Mounts the built-in emulator's demo mailbox at $(DEMO_DIR), shows it with real programs,
# and stays mounted until Ctrl-C (exits after the tour when not on a terminal).
demo: build
	$(BIN) demo --tour $(DEMO_DIR)

clean:
	rm -rf bin
