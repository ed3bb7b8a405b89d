# outlookfs: make build | test | bench | demo | lint
GO       ?= go
BIN      := bin/outlookfs
DEMO_DIR ?= /tmp/outlookfs-demo
PKGS     := ./...

.PHONY: build test test-e2e race bench demo lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/outlookfs

# The whole suite: unit tests, emulator tests and real FUSE mounts driven by cp, rsync, gio, vim...
# -p 1 keeps the mount tests from fighting the package builds for the 2 CI cores.
test: build
	$(GO) test -count=1 -timeout 15m -p 1 $(PKGS)

# The end-to-end suite on the built binary: `outlookfs emulator` and `outlookfs mount` as separate
# processes, kill -9, faults, bad input, a soak, SIGTERM (docs/e2e.md). OUTLOOKFS_E2E_SEED replays a run.
test-e2e: build
	OUTLOOKFS_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout 12m -run '^TestE2E' -v ./cmd/outlookfs/

# The suite under the race detector (slower; -short trims the longest spool cases).
race: build
	$(GO) test -race -short -count=1 -timeout 30m -p 1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Speed and memory goals, as tables (never as timed tests).
bench: build
	./scripts/bench.sh

# Short fuzzing runs of every fuzz target.
fuzz:
	./scripts/fuzz.sh

# Mounts the built-in emulator's demo mailbox at $(DEMO_DIR), shows it with real programs,
# and stays mounted until Ctrl-C (exits after the tour when not on a terminal).
demo: build
	$(BIN) demo --tour $(DEMO_DIR)

clean:
	rm -rf bin
