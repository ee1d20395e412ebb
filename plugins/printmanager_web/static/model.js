// The model page: edits through the JSON API (with the CSRF token) and the 3D preview.
import * as THREE from 'three';
import { STLLoader } from 'three/addons/STLLoader.js';
import { OrbitControls } from 'three/addons/OrbitControls.js';

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const errorBox = document.getElementById('edit-error');

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    errorBox.textContent = data.error || `request failed (${response.status})`;
    errorBox.hidden = false;
    throw new Error(errorBox.textContent);
  }
  return data;
}

function endpoint(box) {
  return box.dataset.kind === 'model' ? `/api/models/${box.dataset.id}` : `/api/files/${box.dataset.id}`;
}

document.querySelectorAll('.tags').forEach((box) => {
  const form = box.querySelector('form.add-tag');
  if (form) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const tag = form.tag.value.trim();
      if (!tag) return;
      await post(`${endpoint(box)}/tags`, { add: [tag] });
      location.reload();
    });
  }
  box.querySelectorAll('button.untag').forEach((button) => {
    button.addEventListener('click', async () => {
      await post(`${endpoint(box)}/tags`, { remove: [button.dataset.tag] });
      location.reload();
    });
  });
});

const fields = document.getElementById('model-fields');
const modelId = document.getElementById('model').dataset.modelId;
if (fields && fields.querySelector('button')) {
  fields.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    for (const element of fields.elements) {
      if (element.name) body[element.name] = element.value;
    }
    await post(`/api/models/${modelId}`, body);
    location.reload();
  });
}

document.querySelectorAll('.open-in-slicer').forEach((box) => {
  box.querySelector('button.open-slicer').addEventListener('click', async () => {
    const slicer = box.querySelector('select').value;
    await post(`/api/files/${box.dataset.fileId}/open`, { slicer });
  });
});

document.querySelectorAll('form.file-notes').forEach((form) => {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await post(`/api/files/${form.dataset.id}/notes`, { notes: form.notes.value });
    location.reload();
  });
});

const collections = document.querySelector('.collections');
const addCollection = collections.querySelector('form.add-collection');
if (addCollection) {
  addCollection.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = addCollection.collection.value.trim();
    if (!name) return;
    await post(`/api/models/${modelId}/collections`, { add: [name] });
    location.reload();
  });
}
collections.querySelectorAll('button.uncollect').forEach((button) => {
  button.addEventListener('click', async () => {
    await post(`/api/models/${modelId}/collections`, { remove: [button.dataset.collection] });
    location.reload();
  });
});

// -- 3D preview ------------------------------------------------------------------
const section = document.getElementById('preview');
const canvas = document.getElementById('preview-canvas');
let viewer = null;

function makeViewer() {
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(canvas.width, canvas.height, false);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xf4f4f0);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x666677, 2.2));
  const sun = new THREE.DirectionalLight(0xffffff, 1.6);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(40, canvas.width / canvas.height, 0.1, 100000);
  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = false;
  const render = () => {
    sun.position.copy(camera.position);
    renderer.render(scene, camera);
    window.pmPreview.frames += 1;
  };
  controls.addEventListener('change', render);
  return { renderer, scene, camera, controls, render, mesh: null };
}

window.pmPreview = { frames: 0, ready: false, triangles: 0, decimated: false, error: null };

async function showPreview(button) {
  section.hidden = false;
  document.getElementById('preview-name').textContent = button.dataset.name;
  const note = document.getElementById('preview-note');
  note.textContent = 'Loading…';
  window.pmPreview.ready = false;
  try {
    const response = await fetch(`/api/files/${button.dataset.fileId}/mesh`);
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.error || `preview failed (${response.status})`);
    }
    const shown = Number(response.headers.get('x-preview-triangles'));
    const source = Number(response.headers.get('x-source-triangles'));
    const decimated = response.headers.get('x-preview-decimated') === '1';
    const geometry = new STLLoader().parse(await response.arrayBuffer());
    viewer = viewer || makeViewer();
    if (viewer.mesh) viewer.scene.remove(viewer.mesh);
    geometry.computeBoundingSphere();
    const { center, radius } = geometry.boundingSphere;
    geometry.translate(-center.x, -center.y, -center.z);
    const material = new THREE.MeshStandardMaterial({ color: 0x3c8dbc, roughness: 0.6, metalness: 0.05 });
    viewer.mesh = new THREE.Mesh(geometry, material);
    viewer.mesh.rotation.x = -Math.PI / 2; // printers are Z-up, three.js is Y-up
    viewer.scene.add(viewer.mesh);
    const r = radius || 1;
    viewer.camera.near = r / 100;
    viewer.camera.far = r * 100;
    viewer.camera.position.set(r * 1.6, r * 1.2, r * 2.2);
    viewer.camera.updateProjectionMatrix();
    viewer.controls.target.set(0, 0, 0);
    viewer.controls.update();
    viewer.render();
    note.textContent = decimated
      ? `Decimated preview: ${shown.toLocaleString()} of ${source.toLocaleString()} triangles (download the file for all of them).`
      : `${shown.toLocaleString()} triangles.`;
    Object.assign(window.pmPreview, { ready: true, triangles: shown, decimated, error: null });
  } catch (error) {
    note.textContent = error.message;
    window.pmPreview.error = error.message;
  }
  section.scrollIntoView({ block: 'start' });
}

document.querySelectorAll('button.show-preview').forEach((button) => {
  button.addEventListener('click', () => showPreview(button));
});
