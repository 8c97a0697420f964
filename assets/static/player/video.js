// The page's side of video: feeds the decoder Worker and draws what comes back onto the canvas at
// an integer scale with smoothing off (every game pixel becomes a k x k block), closing each frame.

export class VideoPlayer {
  constructor(canvas, workerUrl, onFrame, onNeedKey) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d", { alpha: false, desynchronized: true, willReadFrequently: false });
    this.worker = new Worker(workerUrl);
    this.onFrame = onFrame;
    this.onNeedKey = onNeedKey;
    this.config = null;
    this.scale = 1;
    this.drawn = 0;
    this.lastFrameNo = -1;
    this.decodeMs = [];
    this.worker.onmessage = (event) => this.message(event.data);
  }

  configure(config) {
    this.config = config;
    this.worker.postMessage({ type: "configure", config });
    this.fit();
  }

  chunk(key, frameNo, timestampUs, data) {
    this.worker.postMessage({ type: "chunk", key, frameNo, timestamp: timestampUs, data }, [data]);
  }

  reset() { this.worker.postMessage({ type: "reset" }); }

  message(message) {
    if (message.type === "frame") {
      this.draw(message.frame);
      this.drawn += 1;
      this.lastFrameNo = message.frameNo;
      this.decodeMs.push(message.decodeMs);
      if (this.decodeMs.length > 120) this.decodeMs.shift();
      this.onFrame(message.frameNo);
    } else if (message.type === "need-key") {
      this.onNeedKey(message.message);
    }
  }

  draw(frame) {
    try {
      const config = this.config;
      if (!config) return;
      const sourceW = config.width * config.scale;
      const sourceH = config.height * config.scale;
      this.context.imageSmoothingEnabled = false;
      this.context.drawImage(frame, 0, 0, sourceW, sourceH, 0, 0, this.canvas.width, this.canvas.height);
    } finally {
      frame.close();
    }
  }

  // The largest whole multiple of the game's size that fits the screen area (in device pixels).
  fit() {
    const config = this.config;
    if (!config) return;
    const box = this.canvas.parentElement.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const fits = Math.floor(Math.min(box.width * ratio / config.width, box.height * ratio / config.height));
    const scale = Math.max(1, fits);
    if (this.canvas.width !== config.width * scale || this.canvas.height !== config.height * scale) {
      this.canvas.width = config.width * scale;
      this.canvas.height = config.height * scale;
    }
    this.scale = scale;
    this.canvas.style.width = `${(config.width * scale) / ratio}px`;
    this.canvas.style.height = `${(config.height * scale) / ratio}px`;
  }
}
