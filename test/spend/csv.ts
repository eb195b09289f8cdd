// A strict RFC 4180 reader for the export tests: CRLF-terminated records, quoted fields, nothing lenient.
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (char === '"') {
        quoted = false;
        i++;
      } else {
        field += char;
        i++;
      }
    } else if (char === '"' && field === "") {
      quoted = true;
      i++;
    } else if (char === ",") {
      record.push(field);
      field = "";
      i++;
    } else if (char === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i += 2;
    } else {
      if (char === '"' || char === "\r" || char === "\n") throw new Error(`Unquoted ${JSON.stringify(char)} at ${i}`);
      field += char;
      i++;
    }
  }
  if (field !== "" || record.length > 0) throw new Error("Last record is not CRLF-terminated");
  return records;
}
