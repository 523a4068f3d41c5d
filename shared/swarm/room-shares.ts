/**
 * Which share of the image each PC of a group deploy gets, rooms taken into account. PC i of N
 * gets the i-th N-th of the pieces (client/swarm/piece-order.ts `shareRange`) and walks the image
 * from there; with shares handed out in MAC order, the PCs of one room hold neighbouring shares,
 * so once their own are in they all want the same pieces next, those of the next room, and each
 * takes them through the room's uplink on its own. Dealt round the rooms instead (the first PC of
 * each room, then the second of each, …), a room's shares lie spread over the image: its PCs want
 * different pieces from outside at any one time, and each then takes the others' from inside the
 * room (the room-first rule in piece-order.ts). The swarm model measured it at 1,000 PCs
 * (docs/swarm-model.md).
 */

/**
 * The share index of each member, `rooms[k]` being member k's room (its /24), members in the
 * group's order: round the rooms in the order they first appear, each room's members in their
 * order. One room gives 0, 1, 2, … as before.
 */
export function sharesByRoom(rooms: readonly string[]): number[] {
  const members = new Map<string, number[]>();
  rooms.forEach((room, k) => {
    const list = members.get(room);
    if (list) list.push(k);
    else members.set(room, [k]);
  });
  const lists = [...members.values()];
  const share = new Array<number>(rooms.length);
  let next = 0;
  for (let pos = 0; next < rooms.length; pos++) for (const list of lists) if (pos < list.length) share[list[pos]!] = next++;
  return share;
}

/**
 * Each member's part of its own room: its place among the room's members (in the group's order)
 * and how many they are. A PC asks PCs of other rooms only for the pieces of its room part
 * (client/swarm/piece-order.ts), so that each piece crosses the room's uplink about once and the
 * room's other PCs take it from inside. One room gives every member its own share again.
 */
export function roomParts(rooms: readonly string[]): Array<{ index: number; count: number }> {
  const seen = new Map<string, number>();
  const place = rooms.map((room) => {
    const k = seen.get(room) ?? 0;
    seen.set(room, k + 1);
    return k;
  });
  return rooms.map((room, k) => ({ index: place[k]!, count: seen.get(room)! }));
}
