// Images in the terminal: sixel and the iTerm inline image protocol
// (OSC 1337 File=), as img2sixel, chafa, lsix, imgcat and matplotlib's
// sixel backends print them.
import { ImageAddon } from '@xterm/addon-image';

export function loadImages(term) {
  // The addon's defaults bound what one image and all of them may take
  // (4096x4096 pixels, 128 MB, oldest dropped first). Its size reports
  // (CSI 14/16/18 t) tell programs the cell size in pixels, which they
  // need to fit an image to the window.
  const images = new ImageAddon();
  term.loadAddon(images);
  return images;
}
