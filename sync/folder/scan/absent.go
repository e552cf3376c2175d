package scan

// Absences is what an Ignorer may also say: which paths that the index
// holds here and the disk no longer has are deletes to publish. A
// selective folder's filter (sync/folder/selection) says only selected
// ones are; without it every path the Ignorer keeps is. A directory the
// scan walks into (the Ignorer keeps it) whose absence would be no delete
// is no new directory either: it is only the way to selected paths, and
// it is not recorded.
type Absences interface {
	AbsenceIsDelete(rel string, isDir bool) bool
}

// absenceIsDelete asks the Ignorer, when it can tell.
func (s *scanner) absenceIsDelete(rel string, isDir bool) bool {
	a, ok := s.opt.Ignore.(Absences)
	return !ok || a.AbsenceIsDelete(rel, isDir)
}
