// Package spoolbench measures the spool for `make bench`
// (cmd/outlookfs-bench-spool) and the spool package's benchmarks:
//
//   - Ingest: spooling a file (writes, then Commit with its sync) against
//     writing the same bytes to a plain file on the same disk (then fsync).
//   - PeakRSS: the peak anonymous memory (RssAnon) of a process that spools
//     and uploads several files at once, measured in a child process so the
//     emulator's own memory does not count.
//   - Attach: a file attached through the spool against the graph client
//     uploading the same bytes straight from a plain file, over the
//     emulator's simulated link.
//
// A program using PeakRSS must call RunChildIfAsked first thing in main (or
// TestMain): the child is the same executable, started with an environment
// variable set.
package spoolbench
