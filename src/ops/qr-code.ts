/**
 * A QR code drawn with block characters, so a phone's camera can open the web
 * client's address straight from the server's terminal.
 */

import qrcode from 'qrcode-terminal';

export function terminalQrCode(text: string): string {
  let drawn = '';
  qrcode.generate(text, { small: true }, (qr) => (drawn = qr));
  return drawn;
}
