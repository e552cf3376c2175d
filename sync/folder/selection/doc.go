// Package selection decides which paths of a folder a selective-sync
// peer holds.
//
// A selection is a list of gitignore-style patterns relative to the
// folder root (the syntax of .shoalignore, read by sync/folder/ignore);
// a path is selected when the last pattern that matches it, or one of its
// ancestor directories, is not a negation. Directories that may hold a
// selected path are kept too, so that the tree to a selected file exists.
// The package is pure: the scanner and the puller ask it, and it answers
// from the patterns alone. An empty selection selects everything.
package selection
