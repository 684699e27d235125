export function App() {
  return <h1>WA Link Hub</h1>
}
