// The survivor page: hash the picked files on this device, show the hashes, send only them (JSON) on request.
// The files are read here and never sent; the one request this page makes is POST /survivor/hashes.
"use strict";

(function () {
  const root = document.getElementById("survivor");
  if (!root) return;
  const input = document.getElementById("survivor-files");
  const note = document.getElementById("survivor-note");
  const status = document.getElementById("survivor-status");
  const table = document.getElementById("survivor-hashes");
  const send = document.getElementById("survivor-send");
  const receipt = document.getElementById("survivor-receipt");
  const code = document.getElementById("survivor-code");
  const words = root.dataset;
  const maxFiles = Number(words.maxFiles);
  const maxFrames = Number(words.maxFrames);
  const csrf = document.querySelector('meta[name="survivor-csrf"]').getAttribute("content");
  const hashes = window.OrbweaverHashes;
  let computed = [];

  function say(text) { status.textContent = text; }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // PDQ of whatever canvas can draw (an ImageBitmap, a video frame), composited on white as the server does.
  function pdqOf(source, width, height) {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.fillStyle = "#fff";
    context.fillRect(0, 0, width, height);
    context.drawImage(source, 0, 0, width, height);
    const pixels = context.getImageData(0, 0, width, height).data;
    return hashes.pdqFromRgba(pixels, width, height);
  }

  async function imagePdq(file) {
    // EXIF orientation applied and no colour conversion: the pixels orbweaver's own decoder sees.
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none",
      premultiplyAlpha: "none" });
    try {
      return [Object.assign({ variant: "" }, pdqOf(bitmap, bitmap.width, bitmap.height))];
    } finally {
      bitmap.close();
    }
  }

  // The next `name` event of a video; an error, or nothing within 15 s (a stalled decoder), gives up on the video.
  function once(target, name) {
    return new Promise((resolve, reject) => {
      let timer = 0;
      const done = () => { clearTimeout(timer); target.removeEventListener("error", fail); resolve(); };
      const fail = () => { clearTimeout(timer); target.removeEventListener(name, done); reject(new Error("video")); };
      target.addEventListener(name, done, { once: true });
      target.addEventListener("error", fail, { once: true });
      timer = setTimeout(fail, 15000);
    });
  }

  // PDQ of up to maxFrames frames spread over the video, each named as the server names a sampled frame.
  async function videoPdq(file) {
    const url = URL.createObjectURL(file);
    const video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    try {
      const loaded = once(video, "loadeddata");
      video.src = url;
      await loaded;
      const duration = Number.isFinite(video.duration) ? video.duration : 0;
      const count = Math.max(1, Math.min(maxFrames, Math.floor(duration)));
      const out = [];
      for (let k = 0; k < count; k++) {
        const at = count === 1 ? 0 : duration * (k + 0.5) / count;
        const seeked = once(video, "seeked");
        video.currentTime = at;
        await seeked;
        if (!video.videoWidth || !video.videoHeight) continue;
        out.push(Object.assign({ variant: "frame@" + at.toFixed(1) + "s" },
          pdqOf(video, video.videoWidth, video.videoHeight)));
      }
      return out;
    } finally {
      video.removeAttribute("src");
      video.load();
      URL.revokeObjectURL(url);
    }
  }

  async function hashFile(file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
    const md5 = hashes.md5Hex(bytes);
    let pdq = [];
    try {
      pdq = file.type.startsWith("video/") ? await videoPdq(file) : await imagePdq(file);
    } catch (err) {
      pdq = []; // not decodable here: its exact hashes still identify copies
    }
    return { name: file.name, md5: md5, sha256: sha256, pdq: pdq };
  }

  function cell(row, text, klass) {
    const td = document.createElement("td");
    td.textContent = text;
    if (klass) td.className = klass;
    row.appendChild(td);
  }

  function show(items) {
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const item of items) {
      const row = document.createElement("tr");
      row.dataset.name = item.name;
      row.dataset.md5 = item.md5;
      row.dataset.sha256 = item.sha256;
      row.dataset.pdq = item.pdq.map((p) => p.hash).join(" ");
      row.dataset.quality = item.pdq.map((p) => p.quality).join(" ");
      cell(row, item.name);
      cell(row, item.md5, "hash");
      cell(row, item.sha256, "hash");
      cell(row, item.pdq.length ? item.pdq.map((p) => p.hash).join(" ") : words.unreadable, "hash");
      body.appendChild(row);
    }
    table.hidden = items.length === 0;
  }

  input.addEventListener("change", async () => {
    computed = [];
    send.disabled = true;
    receipt.hidden = true;
    if (!(window.crypto && crypto.subtle)) { say(words.nocrypto); return; }
    const files = Array.from(input.files).slice(0, maxFiles);
    say(words.working);
    const items = [];
    for (const file of files) {
      try {
        items.push(await hashFile(file));
      } catch (err) {
        items.push({ name: file.name, md5: "", sha256: "", pdq: [], failed: true });
      }
    }
    computed = items.filter((item) => !item.failed);
    show(items);
    say(words.ready);
    send.disabled = computed.length === 0;
    root.dataset.state = "ready";
  });

  send.addEventListener("click", async () => {
    send.disabled = true;
    say(words.sending);
    const body = {
      files: computed.map((item) => ({ md5: item.md5, sha256: item.sha256,
        pdq: item.pdq.map((p) => ({ hash: p.hash, quality: p.quality, variant: p.variant })) })),
      note: note.value,
    };
    try {
      const response = await fetch("/survivor/hashes", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(typeof answer.detail === "string" ? answer.detail : String(response.status));
      code.textContent = answer.code;
      receipt.hidden = false;
      say("");
      root.dataset.state = "sent";
    } catch (err) {
      say(words.failed + " " + err.message);
      send.disabled = false;
      root.dataset.state = "failed";
    }
  });
})();
