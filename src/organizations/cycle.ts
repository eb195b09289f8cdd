// When a billing cycle starts and ends: on cycleAnchorDay (1-31) at 00:00 UTC each month; in a month without
// that day (the 31st in April, the 29th-31st in February), on the month's last day.
export interface CycleBounds {
  start: Date;
  end: Date;
}

/** The anchor day's midnight in the given month (`month` may run past 0-11; Date.UTC carries it into the year). */
function anchorIn(year: number, month: number, anchorDay: number): Date {
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(anchorDay, lastDay)));
}

/** The cycle containing `at`. */
export function cycleAt(anchorDay: number, at: Date): CycleBounds {
  const year = at.getUTCFullYear();
  const month = at.getUTCMonth();
  let startMonth = month;
  let start = anchorIn(year, month, anchorDay);
  if (start > at) {
    startMonth = month - 1;
    start = anchorIn(year, startMonth, anchorDay);
  }
  const end = anchorIn(year, startMonth + 1, anchorDay);
  return { start, end };
}

/** Start of the UTC day containing `at` (daily draw limits reset then). */
export function dayStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}
