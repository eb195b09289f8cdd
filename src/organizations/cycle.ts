// When a billing cycle starts and ends: on cycleAnchorDay (1-28) at 00:00 UTC each month.
export interface CycleBounds {
  start: Date;
  end: Date;
}

function anchorIn(year: number, month: number, anchorDay: number): Date {
  return new Date(Date.UTC(year, month, anchorDay));
}

/** The cycle containing `at`. */
export function cycleAt(anchorDay: number, at: Date): CycleBounds {
  const year = at.getUTCFullYear();
  const month = at.getUTCMonth();
  let start = anchorIn(year, month, anchorDay);
  if (start > at) start = anchorIn(year, month - 1, anchorDay);
  const end = anchorIn(start.getUTCFullYear(), start.getUTCMonth() + 1, anchorDay);
  return { start, end };
}

/** Start of the UTC day containing `at` (daily draw limits reset then). */
export function dayStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}
