// The survivor page's hashes, computed in the browser (orbweaver's own code; no third-party script):
// MD5 (RFC 1321) and Meta's PDQ, as orbweaver's hashing/pdq.py computes it on a full-resolution image.
// SHA-256 comes from WebCrypto (survivor.js). Nothing here touches the network.
"use strict";

(function () {
  // --- MD5 -------------------------------------------------------------------------------------------
  const SHIFTS = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
  // RFC 1321's table: floor(|sin(i + 1)| * 2^32); doubles hold these exactly enough (the test compares with hashlib).
  const SINES = new Int32Array(64);
  for (let i = 0; i < 64; i++) SINES[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;

  function md5Block(state, view, offset) {
    let a = state[0], b = state[1], c = state[2], d = state[3];
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) { f = (b & c) | (~b & d); g = i; }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
      else { f = c ^ (b | ~d); g = (7 * i) & 15; }
      const x = (a + f + SINES[i] + view.getInt32(offset + 4 * g, true)) | 0;
      a = d; d = c; c = b;
      b = (b + ((x << SHIFTS[i]) | (x >>> (32 - SHIFTS[i])))) | 0;
    }
    state[0] = (state[0] + a) | 0; state[1] = (state[1] + b) | 0;
    state[2] = (state[2] + c) | 0; state[3] = (state[3] + d) | 0;
  }

  /** MD5 of a byte array, as lowercase hex. */
  function md5Hex(bytes) {
    const state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    const whole = bytes.length - (bytes.length % 64);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let off = 0; off < whole; off += 64) md5Block(state, view, off);
    // The tail, a 0x80 byte, zeros, and the length in bits (64-bit little-endian): one or two blocks.
    const rest = bytes.length - whole;
    const tail = new Uint8Array(rest < 56 ? 64 : 128);
    tail.set(bytes.subarray(whole));
    tail[rest] = 0x80;
    const tailView = new DataView(tail.buffer);
    const bits = bytes.length * 8;
    tailView.setUint32(tail.length - 8, bits % 4294967296, true);
    tailView.setUint32(tail.length - 4, Math.floor(bits / 4294967296), true);
    for (let off = 0; off < tail.length; off += 64) md5Block(state, tailView, off);
    let hex = "";
    const out = new DataView(state.buffer);
    for (let i = 0; i < 16; i++) hex += out.getUint8(i).toString(16).padStart(2, "0");
    return hex;
  }

  // --- PDQ -------------------------------------------------------------------------------------------
  const GRID = 64;
  const COEFFS = 16;

  // Jarosz filter window of an axis of n pixels decimated to 64: hashing/pdq.py's _window.
  function windowOf(n) { return Math.floor((n + 2 * GRID - 1) / (2 * GRID)); }

  // The two box passes (Meta's Jarosz filter: box1DFloat twice) and the decimation of one axis of n pixels are
  // linear, so together they are one weighted sum per output: output i, at pixel p = floor((i + 0.5) n / 64),
  // averages first-pass outputs o in [p - behind, p + ahead], each of which averages pixels [o - behind, o + ahead]
  // (clipped to the axis; behind = w - h, ahead = h - 1, h = (w + 2) / 2). hashing/pdq.py's band() builds the same.
  function band(n) {
    const window = windowOf(n);
    const half = Math.floor((window + 2) / 2);
    const behind = window - half, ahead = half - 1;
    const low = (o) => Math.max(0, o - behind), high = (o) => Math.min(n - 1, o + ahead);
    const out = [];
    for (let i = 0; i < GRID; i++) {
      const p = Math.floor((i + 0.5) * n / GRID);
      const start = low(low(p)), stop = high(high(p));
      const weights = new Float64Array(stop - start + 1);
      const outer = high(p) - low(p) + 1;
      for (let o = low(p); o <= high(p); o++) {
        const share = 1 / (outer * (high(o) - low(o) + 1));
        for (let x = low(o); x <= high(o); x++) weights[x - start] += share;
      }
      out.push({ start: start, weights: weights });
    }
    return out;
  }
  let dctMatrix = null;
  function dct() {
    if (dctMatrix === null) {
      dctMatrix = new Float64Array(COEFFS * GRID);
      const scale = Math.sqrt(2 / GRID);
      for (let k = 0; k < COEFFS; k++) {
        for (let j = 0; j < GRID; j++) dctMatrix[k * GRID + j] = scale * Math.cos((Math.PI / 2 / GRID) * (k + 1) * (2 * j + 1));
      }
    }
    return dctMatrix;
  }

  /**
   * PDQ of RGBA pixels (ImageData.data), width x height, in Meta's hex format, with its 0-100 quality.
   * Luma 0.299 R + 0.587 G + 0.114 B; two box passes per axis; decimation to 64 x 64; 16 x 16 DCT without
   * the DC term; bit 16 i + j set where coefficient (i, j) is above the 128th smallest.
   */
  function pdqFromRgba(rgba, width, height) {
    const n = width * height;
    const luma = new Float32Array(n);
    for (let i = 0, p = 0; i < n; i++, p += 4) luma[i] = 0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2];
    // Rows first: each of the 64 outputs is a weighted sum of a short run of rows (64 x width) ...
    const rows = new Float64Array(GRID * width);
    band(height).forEach((b, i) => {
      const target = i * width;
      for (let k = 0; k < b.weights.length; k++) {
        const weight = b.weights[k], source = (b.start + k) * width;
        if (weight === 0) continue;
        for (let x = 0; x < width; x++) rows[target + x] += weight * luma[source + x];
      }
    });
    // ... then columns of that.
    const buffer = new Float64Array(GRID * GRID);
    const across = band(width);
    for (let i = 0; i < GRID; i++) {
      for (let j = 0; j < GRID; j++) {
        const b = across[j];
        let sum = 0;
        for (let k = 0; k < b.weights.length; k++) sum += b.weights[k] * rows[i * width + b.start + k];
        buffer[i * GRID + j] = sum;
      }
    }
    let gradient = 0;
    for (let i = 0; i < GRID; i++) {
      for (let j = 0; j < GRID; j++) {
        const u = buffer[i * GRID + j];
        if (i + 1 < GRID) gradient += Math.abs(Math.trunc((u - buffer[(i + 1) * GRID + j]) * 100 / 255));
        if (j + 1 < GRID) gradient += Math.abs(Math.trunc((u - buffer[i * GRID + j + 1]) * 100 / 255));
      }
    }
    const quality = Math.min(100, Math.floor(gradient / 90));
    const d = dct();
    const left = new Float64Array(COEFFS * GRID); // D . buffer
    for (let k = 0; k < COEFFS; k++) {
      for (let j = 0; j < GRID; j++) {
        let sum = 0;
        for (let l = 0; l < GRID; l++) sum += d[k * GRID + l] * buffer[l * GRID + j];
        left[k * GRID + j] = sum;
      }
    }
    const coeffs = new Float64Array(COEFFS * COEFFS); // (D . buffer) . D^T
    for (let i = 0; i < COEFFS; i++) {
      for (let j = 0; j < COEFFS; j++) {
        let sum = 0;
        for (let l = 0; l < GRID; l++) sum += left[i * GRID + l] * d[j * GRID + l];
        coeffs[i * COEFFS + j] = sum;
      }
    }
    const median = Float64Array.from(coeffs).sort()[127];
    // Meta's hex: the 256-bit integer with bit k at 2^k, big-endian (first digit: bits 255..252).
    let hex = "";
    for (let digit = 0; digit < 64; digit++) {
      let nibble = 0;
      for (let b = 0; b < 4; b++) nibble = (nibble << 1) | (coeffs[255 - 4 * digit - b] > median ? 1 : 0);
      hex += nibble.toString(16);
    }
    return { hash: hex, quality: quality };
  }

  window.OrbweaverHashes = { md5Hex: md5Hex, pdqFromRgba: pdqFromRgba };
})();
