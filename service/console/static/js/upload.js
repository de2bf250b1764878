// Uploading a file: one multipart POST /v1/files, or the Uploads API (create, parts, complete)
// for files too large for one request. Both report progress as bytes sent of bytes total.

export const PARTS_THRESHOLD_BYTES = 32 * 1024 * 1024;
export const PART_BYTES = 8 * 1024 * 1024;

/** POST /v1/files with the file and its purpose. */
export function uploadWhole(api, file, purpose, onProgress) {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", file, file.name);
  return api.postForm("/files", form, onProgress);
}

/** The Uploads API: parts of ``PART_BYTES`` sent one after another, then completed in order. */
export async function uploadInParts(api, file, purpose, onProgress) {
  const upload = await api.post("/uploads", {
    filename: file.name,
    purpose,
    bytes: file.size,
    mime_type: file.type || "application/jsonl",
  });
  const partIds = [];
  try {
    for (let start = 0; start < file.size || partIds.length === 0; start += PART_BYTES) {
      const chunk = file.slice(start, Math.min(file.size, start + PART_BYTES));
      const form = new FormData();
      form.append("data", chunk, file.name);
      const part = await api.postForm(`/uploads/${upload.id}/parts`, form, (loaded) =>
        onProgress(Math.min(file.size, start + loaded), file.size),
      );
      partIds.push(part.id);
    }
    const completed = await api.post(`/uploads/${upload.id}/complete`, { part_ids: partIds });
    return completed.file;
  } catch (error) {
    await api.post(`/uploads/${upload.id}/cancel`).catch(() => {});
    throw error;
  }
}
