import { channelConformance } from './conformance.js';
import { MatrixDriver } from './drivers-matrix.js';

channelConformance(() => new MatrixDriver());
