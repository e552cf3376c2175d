// Package selection decides which paths of a folder a selective-sync
// peer holds.
//
// A selection is a list of gitignore-style patterns relative to the
// folder root (the syntax of .shoalignore, read by sync/folder/ignore);
// a path is selected when the last pattern that matches it, or one of its
// ancestor directories, is not a negation. Directories that may hold a
// selected path are walked by the scanner but not synced themselves, and
// a path that was here and is gone is a delete only when it is selected.
// The package is pure: the scanner and the puller ask it, and it answers
// from the patterns alone. A nil selection selects everything.
package selection
