package presence

// RoomInfo is one occupied room of a RoomList: its member count, and how
// many of the members are not invisible.
type RoomInfo struct {
	Room           string
	Count, Visible int
}

// RoomList is one page of occupied rooms, in name order.
type RoomList struct {
	Rooms []RoomInfo
	// Next is the after of the next page; "" when this page is the last.
	Next string
}

// PageRooms cuts rooms, sorted by name, to a page of at most limit.
func PageRooms(rooms []RoomInfo, limit int) RoomList {
	if limit <= 0 {
		return RoomList{}
	}
	if len(rooms) <= limit {
		return RoomList{Rooms: rooms}
	}
	return RoomList{Rooms: rooms[:limit], Next: rooms[limit-1].Room}
}
