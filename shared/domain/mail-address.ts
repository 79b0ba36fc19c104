/** The address inside "Name <address>", or the text itself when it has no angle brackets. */
export function bareAddress(address: string): string {
  const angle = /<([^<>]+)>\s*$/.exec(address);
  return (angle?.[1] ?? address).trim();
}
