# outlookfs: make build | test | test-posix | soak | bench | demo | lint
GO       ?= go
BIN      := bin/outlookfs
DEMO_DIR ?= /tmp/outlookfs-demo
PKGS     := ./...

.PHONY: build test test-sdk test-e2e test-posix soak race bench demo lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/outlookfs

# The whole suite: unit tests, emulator tests and real FUSE mounts driven by cp, rsync, gio, vim...
# -p 1 keeps the mount tests from fighting the package builds for the 2 CI cores.
test: build
	$(GO) test -count=1 -timeout 15m -p 1 $(PKGS)

# Peer suites (docs/peer-suites.md): pjdfstest, fsx and fsstress, prebuilt elsewhere, against a
# mount of bin/outlookfs on the emulator. UPDATE=1 rewrites docs/pjdfstest-expected.txt from the
# run, for a human to review.
PEER      ?= $(CURDIR)/../shared/peer
PJDFSTEST ?= $(PEER)/pjdfstest
FSX       ?= $(PEER)/xfstests-ltp/fsx
FSSTRESS  ?= $(PEER)/xfstests-ltp/fsstress
PEER_ARGS  = -peer.log=$(CURDIR)/bin/pjdfstest-prove.log -peer.pjdfstest=$(PJDFSTEST) -peer.fsx=$(FSX) -peer.fsstress=$(FSSTRESS) $(if $(UPDATE),-peer.update)
PEER_TEST  = OUTLOOKFS_BINARY=$(CURDIR)/$(BIN) $(GO) test -tags peer -count=1 -v -run '^TestPeer' ./cmd/outlookfs

test-posix: build
	$(PEER_TEST) -timeout 10m -args $(PEER_ARGS)

# The same suites, longer: every pjdfstest file the table runs in soak, more and longer fsx runs,
# more fsstress processes and operations.
soak: build
	$(PEER_TEST) -timeout 60m -args $(PEER_ARGS) -peer.soak -peer.timeout=45m \
		-peer.fsx-runs=12 -peer.fsx-ops=3000 -peer.fsstress-procs=6 -peer.fsstress-ops=1000

# The end-to-end suite on the built binary: `outlookfs emulator` and `outlookfs mount` as separate
# processes, kill -9, faults, bad input, a soak, SIGTERM (docs/e2e.md). OUTLOOKFS_E2E_SEED replays a run.
test-e2e: build
	OUTLOOKFS_BINARY=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout 12m -run '^TestE2E' -v ./cmd/outlookfs/

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
