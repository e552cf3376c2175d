// Package ignore says which paths of a shared folder are not synced.
//
// A folder's root may hold a .shoalignore in gitignore syntax (comments,
// negation, directory-only and anchored patterns, "**", escapes), with
// git's rule that nothing under an ignored directory can be re-included.
// shoal's own paths (the .shoal/ marker directory and the temp files of
// the puller) are always ignored, whatever the file says, and the root
// .shoalignore itself is always synced so every peer ignores the same.
package ignore
