// Package folder runs one synced folder: a single goroutine owns its
// state and alternates between scanning the disk (at start, on watcher
// events, and hourly) and pulling what the global index has that the
// disk lacks. New local changes are signed and handed to the caller to
// push to peers; remote records reach it through the index, and it is
// told to look. A folder whose .shoal marker is missing stops with an
// error instead of reading an empty or unmounted disk as "all deleted".
package folder
