package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/boltstore"
)

// registerBoltStats exports the embedded database's write statistics, read
// at scrape time: they tell an operator (and the load tool) what idle
// sessions cost the disk, which no other metric shows.
func registerBoltStats(reg prometheus.Registerer, store any) {
	db, ok := store.(*boltstore.Store)
	if !ok {
		return
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_bolt_page_writes_total",
			Help: "Pages written to the embedded database file since the node started.",
		}, func() float64 { return float64(db.Stats().PageWrites) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_bolt_commits_total",
			Help: "Write transactions committed to the embedded database file since it was created.",
		}, func() float64 { return float64(db.Stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_bolt_record_changes_total",
			Help: "User record changes committed to the embedded database file since the node started.",
		}, func() float64 { return float64(db.Stats().RecordChanges) }),
	)
}
