// Server-Sent Events read from a fetch() body. EventSource cannot send an Authorization header,
// and the key must never travel in a URL, so the console parses the stream itself.

/** Yields ``{event, data, id}`` for each event of ``response`` until the body ends. */
export async function* readServerSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let pending = { event: "message", data: [], id: null };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line === "") {
          if (pending.data.length > 0) {
            yield { event: pending.event, data: pending.data.join("\n"), id: pending.id };
          }
          pending = { event: "message", data: [], id: null };
          continue;
        }
        if (line.startsWith(":")) continue; // a comment (keep-alive)
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const fieldValue = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "data") pending.data.push(fieldValue);
        else if (name === "event") pending.event = fieldValue;
        else if (name === "id") pending.id = fieldValue;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
